import 'package:flutter/material.dart';

import 'constants.dart';

ThemeData buildTheme() {
  const scheme = ColorScheme.dark(
    primary: AppColors.violet,
    onPrimary: AppColors.text,
    secondary: AppColors.turquoise,
    onSecondary: AppColors.background,
    surface: AppColors.surface,
    onSurface: AppColors.text,
    error: AppColors.error,
  );
  return ThemeData(
    useMaterial3: true,
    colorScheme: scheme,
    scaffoldBackgroundColor: AppColors.background,
    fontFamily: AppText.family,
    textTheme: const TextTheme(
      headlineMedium: AppText.h1,
      titleLarge: AppText.h2,
      bodyLarge: AppText.body,
      bodyMedium: AppText.body,
      bodySmall: AppText.caption,
      labelLarge: TextStyle(fontFamily: AppText.family, fontSize: 16, fontWeight: FontWeight.w600),
    ),
    appBarTheme: const AppBarTheme(
      backgroundColor: AppColors.background,
      foregroundColor: AppColors.text,
      elevation: 0,
      titleTextStyle: AppText.h2,
    ),
    switchTheme: SwitchThemeData(
      thumbColor: WidgetStateProperty.resolveWith(
          (s) => s.contains(WidgetState.selected) ? AppColors.text : AppColors.textSecondary),
      trackColor: WidgetStateProperty.resolveWith(
          (s) => s.contains(WidgetState.selected) ? AppColors.violet : AppColors.outline),
    ),
    checkboxTheme: CheckboxThemeData(
      fillColor: WidgetStateProperty.resolveWith(
          (s) => s.contains(WidgetState.selected) ? AppColors.violet : Colors.transparent),
      side: const BorderSide(color: AppColors.textSecondary, width: 1.5),
    ),
    sliderTheme: const SliderThemeData(
      activeTrackColor: AppColors.turquoise,
      inactiveTrackColor: AppColors.outline,
      thumbColor: AppColors.turquoise,
      overlayColor: Color(0x3300E5FF),
    ),
    inputDecorationTheme: InputDecorationTheme(
      filled: true,
      fillColor: AppColors.surface.withValues(alpha: 0.85),
      hintStyle: AppText.body.copyWith(color: AppColors.textSecondary),
      border: OutlineInputBorder(
        borderRadius: BorderRadius.circular(14),
        borderSide: const BorderSide(color: AppColors.outline),
      ),
      enabledBorder: OutlineInputBorder(
        borderRadius: BorderRadius.circular(14),
        borderSide: const BorderSide(color: AppColors.outline),
      ),
      focusedBorder: OutlineInputBorder(
        borderRadius: BorderRadius.circular(14),
        borderSide: const BorderSide(color: AppColors.turquoise, width: 1.5),
      ),
    ),
    elevatedButtonTheme: ElevatedButtonThemeData(
      style: ElevatedButton.styleFrom(
        backgroundColor: AppColors.violet,
        foregroundColor: AppColors.text,
        disabledBackgroundColor: AppColors.violet.withValues(alpha: 0.4),
        minimumSize: const Size.fromHeight(54),
        shape: RoundedRectangleBorder(borderRadius: BorderRadius.circular(14)),
        textStyle: const TextStyle(fontFamily: AppText.family, fontSize: 16, fontWeight: FontWeight.w600),
      ),
    ),
  );
}
